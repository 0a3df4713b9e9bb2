"""Secret references resolved into values, their keyed fingerprints, and the sources reached over
the network (Key Vault, Vault)."""
