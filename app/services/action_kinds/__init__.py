"""Action kinds, one module each; `app.services.actions.action_kinds` lists them."""
