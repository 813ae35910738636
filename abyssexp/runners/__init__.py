"""Where runs execute: this machine (``local``) or a Slurm cluster (``slurm``).

Never imports TensorFlow: runs are separate ``abyssexp train`` processes or Slurm jobs.
"""
