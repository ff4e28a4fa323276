"""The only code that talks to AWS: sessions, STS, the GetAuthorizationToken call."""
