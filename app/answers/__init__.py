"""The knowledge base ("réponses enregistrées"): the brand's saved answers, managed by admins
(`service`, `router`, `pages`), matched against each new message by drafting (`app.drafts`)."""
