"""The reply templates a new database starts with (the initial migration inserts them; later
migrations bring those an admin never changed up to date).

A complaint's first reply asks for the order or case number; once the brand has answered in the
conversation (`already_replied`), the next one follows up instead of greeting and asking again.
"""

# name, category, language, channel kind, register, body
DEFAULT_TEMPLATES: list[tuple[str, str, str, str, str, str]] = [
    (
        "complaint-fr-public-vous",
        "complaint",
        "fr",
        "public",
        "vous",
        "{% if already_replied %}Merci {{ first_name }} pour ces précisions, nous suivons votre dossier "
        "et revenons vers vous en message privé. {% else %}Bonjour {{ first_name }}, nous sommes "
        "sincèrement désolés pour ce désagrément. Pouvez-vous nous écrire en message privé avec votre "
        "numéro de commande ou de dossier ? Nous regardons cela tout de suite. {% endif %}{{ signature }}",
    ),
    (
        "complaint-fr-public-tu",
        "complaint",
        "fr",
        "public",
        "tu",
        "{% if already_replied %}Merci {{ first_name }} pour ces précisions, on suit ton dossier et on "
        "revient vers toi en privé. {% else %}Salut {{ first_name }}, désolés pour ce souci ! Écris-nous "
        "en privé avec ton numéro de commande ou de dossier, on regarde ça tout de suite. {% endif %}{{ "
        "signature }}",
    ),
    (
        "complaint-fr-private-vous",
        "complaint",
        "fr",
        "private",
        "vous",
        "{% if already_replied %}Merci {{ first_name }} pour ces précisions, nous suivons votre dossier "
        "en priorité et revenons vers vous très vite. {% else %}Bonjour {{ first_name }}, merci de nous "
        "avoir écrit et toutes nos excuses pour ce désagrément. Pouvez-vous nous donner votre numéro de "
        "commande ou de dossier ? Nous nous en occupons en priorité. {% endif %}{{ signature }}",
    ),
    (
        "complaint-fr-private-tu",
        "complaint",
        "fr",
        "private",
        "tu",
        "{% if already_replied %}Merci {{ first_name }} pour ces précisions, on suit ton dossier en "
        "priorité et on revient vers toi très vite. {% else %}Salut {{ first_name }}, merci pour ton "
        "message et désolés pour ce souci. Tu peux nous donner ton numéro de commande ou de dossier ? On "
        "s'en occupe en priorité. {% endif %}{{ signature }}",
    ),
    (
        "question-fr-public-vous",
        "question",
        "fr",
        "public",
        "vous",
        "Bonjour {{ first_name }}, merci pour votre question ! Nous vous répondons en message privé avec "
        "tous les détails. {{ signature }}",
    ),
    (
        "question-fr-public-tu",
        "question",
        "fr",
        "public",
        "tu",
        "Salut {{ first_name }}, merci pour ta question ! On te répond en message privé avec tous les "
        "détails. {{ signature }}",
    ),
    (
        "question-fr-private-vous",
        "question",
        "fr",
        "private",
        "vous",
        "Bonjour {{ first_name }}, merci pour votre message. {{ signature }}",
    ),
    (
        "question-fr-private-tu",
        "question",
        "fr",
        "private",
        "tu",
        "Salut {{ first_name }}, merci pour ton message. {{ signature }}",
    ),
    (
        "suggestion-fr-any-vous",
        "suggestion",
        "fr",
        "any",
        "vous",
        "Merci {{ first_name }} pour cette idée ! Nous la transmettons à l'équipe concernée. {{ signature }}",
    ),
    (
        "suggestion-fr-any-tu",
        "suggestion",
        "fr",
        "any",
        "tu",
        "Merci {{ first_name }} pour l'idée ! On la transmet à l'équipe. {{ signature }}",
    ),
    ("other-fr-any-vous", "other", "fr", "any", "vous", "Merci beaucoup {{ first_name }} ! {{ signature }}"),
    ("other-fr-any-tu", "other", "fr", "any", "tu", "Merci {{ first_name }} ! {{ signature }}"),
    (
        "complaint-en-public",
        "complaint",
        "en",
        "public",
        "any",
        "{% if already_replied %}Thanks {{ first_name }} for the details, we're following up on your "
        "case and will get back to you in a private message. {% else %}Hi {{ first_name }}, we're really "
        "sorry about this. Could you send us a private message with your order or case number? We'll "
        "look into it right away. {% endif %}{{ signature }}",
    ),
    (
        "complaint-en-private",
        "complaint",
        "en",
        "private",
        "any",
        "{% if already_replied %}Thanks {{ first_name }} for the details, we're following up on your "
        "case as a priority and will get back to you shortly. {% else %}Hi {{ first_name }}, thanks for "
        "reaching out, and we're sorry for the trouble. Could you share your order or case number? We'll "
        "make this a priority. {% endif %}{{ signature }}",
    ),
    (
        "question-en-public",
        "question",
        "en",
        "public",
        "any",
        "Hi {{ first_name }}, thanks for your question! We'll reply in a private message with all the "
        "details. {{ signature }}",
    ),
    (
        "question-en-private",
        "question",
        "en",
        "private",
        "any",
        "Hi {{ first_name }}, thanks for your message. {{ signature }}",
    ),
    (
        "suggestion-en-any",
        "suggestion",
        "en",
        "any",
        "any",
        "Thanks {{ first_name }} for the idea! We're passing it on to the team. {{ signature }}",
    ),
    ("other-en-any", "other", "en", "any", "any", "Thank you {{ first_name }}! {{ signature }}"),
]
