"""Provider credentials per workspace: validated, encrypted at rest, shown only masked."""
