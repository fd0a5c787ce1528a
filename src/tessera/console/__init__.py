"""The web console: server-rendered pages for the people who manage identities and secrets."""
