"""The reply templates a new database starts with (the initial migration inserts them; later
migrations bring the ones an admin never changed up to date).

Each reads correctly with and without the customer's first name, and asks only for what the
customer has not given: with an order number, it names the order instead; once the brand has
answered in the conversation (`already_replied`), a complaint's next reply follows up instead of
greeting and asking again. French puts a no-break
space (U+00A0) before ? ! : ; (the renderer makes any space there one), English none.
"""

# the greeting, with the customer's first name when known ("Bonjour Camille," / "Bonjour,")
_NAME = "{% if first_name %} {{ first_name }}{% endif %}"

# name, category, language, channel kind, register, body
DEFAULT_TEMPLATES: list[tuple[str, str, str, str, str, str]] = [
    (
        "complaint-fr-public-vous",
        "complaint",
        "fr",
        "public",
        "vous",
        f"{{% if already_replied %}}Merci{_NAME} pour ces précisions, nous suivons votre dossier et revenons "
        "vers vous en message privé. {% else %}"
        f"Bonjour{_NAME}, nous sommes sincèrement désolés pour ce désagrément. {{% if order_number %}}"
        "Nous regardons tout de suite la commande {{ order_number }} et revenons vers vous en message "
        "privé.{% else %}Pouvez-vous nous écrire en message privé avec votre numéro de commande ou de "
        "dossier\u00a0? Nous regardons cela tout de suite.{% endif %} {% endif %}{{ signature }}",
    ),
    (
        "complaint-fr-public-tu",
        "complaint",
        "fr",
        "public",
        "tu",
        f"{{% if already_replied %}}Merci{_NAME} pour ces précisions, on suit ton dossier et on revient vers "
        "toi en privé. {% else %}"
        f"Salut{_NAME}, désolés pour ce souci\u00a0! {{% if order_number %}}On regarde tout de suite la "
        "commande {{ order_number }} et on revient vers toi en privé.{% else %}Écris-nous en privé avec "
        "ton numéro de commande ou de dossier, on regarde ça tout de suite.{% endif %} {% endif %}"
        "{{ signature }}",
    ),
    (
        "complaint-fr-private-vous",
        "complaint",
        "fr",
        "private",
        "vous",
        f"{{% if already_replied %}}Merci{_NAME} pour ces précisions, nous suivons votre dossier en priorité "
        "et revenons vers vous très vite. {% else %}"
        f"Bonjour{_NAME}, merci de nous avoir écrit et toutes nos excuses pour ce désagrément. "
        "{% if order_number %}Nous regardons tout de suite la commande {{ order_number }} et nous nous "
        "en occupons en priorité.{% else %}Pouvez-vous nous donner votre numéro de commande ou de "
        "dossier\u00a0? Nous nous en occupons en priorité.{% endif %} {% endif %}{{ signature }}",
    ),
    (
        "complaint-fr-private-tu",
        "complaint",
        "fr",
        "private",
        "tu",
        f"{{% if already_replied %}}Merci{_NAME} pour ces précisions, on suit ton dossier en priorité et on "
        "revient vers toi très vite. {% else %}"
        f"Salut{_NAME}, merci pour ton message et désolés pour ce souci. {{% if order_number %}}On "
        "regarde tout de suite la commande {{ order_number }} et on s'en occupe en priorité.{% else %}"
        "Tu peux nous donner ton numéro de commande ou de dossier\u00a0? On s'en occupe en priorité."
        "{% endif %} {% endif %}{{ signature }}",
    ),
    (
        "question-fr-public-vous",
        "question",
        "fr",
        "public",
        "vous",
        f"Bonjour{_NAME}, merci pour votre question\u00a0! {{% if order_number %}}Nous regardons la "
        "commande {{ order_number }} et vous répondons{% else %}Nous vous répondons{% endif %} en "
        "message privé avec tous les détails. {{ signature }}",
    ),
    (
        "question-fr-public-tu",
        "question",
        "fr",
        "public",
        "tu",
        f"Salut{_NAME}, merci pour ta question\u00a0! {{% if order_number %}}On regarde la commande "
        "{{ order_number }} et on te répond{% else %}On te répond{% endif %} en message privé avec "
        "tous les détails. {{ signature }}",
    ),
    (
        "question-fr-private-vous",
        "question",
        "fr",
        "private",
        "vous",
        f"Bonjour{_NAME}, merci pour votre message. {{% if order_number %}}Nous regardons la commande "
        "{{ order_number }} et revenons vers vous très vite.{% endif %} {{ signature }}",
    ),
    (
        "question-fr-private-tu",
        "question",
        "fr",
        "private",
        "tu",
        f"Salut{_NAME}, merci pour ton message. {{% if order_number %}}On regarde la commande "
        "{{ order_number }} et on revient vers toi très vite.{% endif %} {{ signature }}",
    ),
    (
        "suggestion-fr-any-vous",
        "suggestion",
        "fr",
        "any",
        "vous",
        f"Merci{_NAME} pour cette idée\u00a0! Nous la transmettons à l'équipe concernée. {{{{ signature }}}}",
    ),
    (
        "suggestion-fr-any-tu",
        "suggestion",
        "fr",
        "any",
        "tu",
        f"Merci{_NAME} pour l'idée\u00a0! On la transmet à l'équipe. {{{{ signature }}}}",
    ),
    ("other-fr-any-vous", "other", "fr", "any", "vous", f"Merci beaucoup{_NAME}\u00a0! {{{{ signature }}}}"),
    ("other-fr-any-tu", "other", "fr", "any", "tu", f"Merci{_NAME}\u00a0! {{{{ signature }}}}"),
    (
        "complaint-en-public",
        "complaint",
        "en",
        "public",
        "any",
        f"{{% if already_replied %}}Thanks{_NAME} for the details, we're following up on your case and will "
        "get back to you in a private message. {% else %}"
        f"Hi{_NAME}, we're really sorry about this. {{% if order_number %}}We're looking into order "
        "{{ order_number }} right away and will get back to you in a private message.{% else %}Could "
        "you send us a private message with your order or case number? We'll look into it right away."
        "{% endif %} {% endif %}{{ signature }}",
    ),
    (
        "complaint-en-private",
        "complaint",
        "en",
        "private",
        "any",
        f"{{% if already_replied %}}Thanks{_NAME} for the details, we're following up on your case as a "
        "priority and will get back to you shortly. {% else %}"
        f"Hi{_NAME}, thanks for reaching out, and we're sorry for the trouble. {{% if order_number %}}"
        "We're looking into order {{ order_number }} right away and making it a priority.{% else %}"
        "Could you share your order or case number? We'll make this a priority.{% endif %} {% endif %}"
        "{{ signature }}",
    ),
    (
        "question-en-public",
        "question",
        "en",
        "public",
        "any",
        f"Hi{_NAME}, thanks for your question! {{% if order_number %}}We're looking into order "
        "{{ order_number }} and will reply{% else %}We'll reply{% endif %} in a private message with "
        "all the details. {{ signature }}",
    ),
    (
        "question-en-private",
        "question",
        "en",
        "private",
        "any",
        f"Hi{_NAME}, thanks for your message. {{% if order_number %}}We're looking into order "
        "{{ order_number }} and will get back to you shortly.{% endif %} {{ signature }}",
    ),
    (
        "suggestion-en-any",
        "suggestion",
        "en",
        "any",
        "any",
        f"Thanks{_NAME} for the idea! We're passing it on to the team. {{{{ signature }}}}",
    ),
    ("other-en-any", "other", "en", "any", "any", f"Thank you{_NAME}! {{{{ signature }}}}"),
]
