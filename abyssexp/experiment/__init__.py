"""The scratch convention as code: layout, names, numbering, records, references, listing."""
