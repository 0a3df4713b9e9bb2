"""What idpctl manages and applied: the state codec, the local and Azure Blob stores, locks, and
the journal."""
