"""Where idpctl may send a credential (endpoints) and the HTTP plumbing every caller shares."""
