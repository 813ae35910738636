"""Permanent storage: transactional promotion, a locked registry with aliases, verification, gc."""
