"""Refresh-token credentials: a long-lived refresh token exchanged for access tokens, optionally rotated."""
