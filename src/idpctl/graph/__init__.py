"""Microsoft Graph: sign-in, the client, `$batch`, and the read side that turns Graph's answers
into live providers."""
