"""Reply templates: user-editable Jinja2 rendered in a sandbox (`rendering`), the admin's
create / change / preview (`service`), and the set a new database starts with (`defaults`)."""
