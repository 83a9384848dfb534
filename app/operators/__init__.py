"""Operators: dashboard accounts, their roles in workspaces, invitations and sign-in."""
