"""Reviewed mappings of the intent datasets' labels onto the four triage classes.

banking77 and clinc150 publish intents, not triage classes (their `label4` is empty). The rules:

- A message that reports something going wrong with the customer's own account, card, payment or
  delivery is a `complaint`, even when phrased as a question ("Why was my card declined?"): the
  project's rule is that a message which both complains and asks is a complaint.
- Unexpected fees the customer found on a statement are complaints; asking what a fee is, is not.
- Lost or stolen cards and phones are requests for help, not complaints about the brand: `question`.
- "pending" intents ask for status and are `question`.
- Everything else in banking77 asks for information or an action: `question`.
- clinc150 small talk (greetings, thanks, jokes, questions about the assistant itself, yes/no/maybe)
  and the out-of-scope `oos` intent are `other`: in a brand's inbox they need no triage.
  `oos` holds many general-knowledge questions ("what causes dyslexia"): they are `other` here
  because they are not addressed to the brand, as the project decided.
- clinc150 requests for an action or information (set a timer, book a flight, what's my balance,
  suggest a restaurant) are `question`: they need an answer from the brand. Note that
  `meal_suggestion`, `restaurant_suggestion` and `travel_suggestion` ask FOR a suggestion: question.
- clinc150 problem reports (card declined, damaged card, lost luggage, fraud, blocked account) are
  `complaint`.
"""

from __future__ import annotations

BANKING77_COMPLAINTS: frozenset[str] = frozenset(
    {
        "Refund_not_showing_up",
        "balance_not_updated_after_bank_transfer",
        "balance_not_updated_after_cheque_or_cash_deposit",
        "beneficiary_not_allowed",
        "card_not_working",
        "card_payment_fee_charged",
        "card_payment_not_recognised",
        "card_payment_wrong_exchange_rate",
        "card_swallowed",
        "cash_withdrawal_charge",
        "cash_withdrawal_not_recognised",
        "compromised_card",
        "contactless_not_working",
        "declined_card_payment",
        "declined_cash_withdrawal",
        "declined_transfer",
        "direct_debit_payment_not_recognised",
        "extra_charge_on_statement",
        "failed_transfer",
        "pin_blocked",
        "reverted_card_payment?",
        "top_up_failed",
        "top_up_reverted",
        "transaction_charged_twice",
        "transfer_fee_charged",
        "transfer_not_received_by_recipient",
        "unable_to_verify_identity",
        "virtual_card_not_working",
        "wrong_amount_of_cash_received",
        "wrong_exchange_rate_for_cash_withdrawal",
    }
)

CLINC150_OTHER: frozenset[str] = frozenset(
    {
        "oos",
        "greeting",
        "goodbye",
        "thank_you",
        "tell_joke",
        "fun_fact",
        "meaning_of_life",
        "who_made_you",
        "who_do_you_work_for",
        "are_you_a_bot",
        "what_is_your_name",
        "how_old_are_you",
        "do_you_have_pets",
        "where_are_you_from",
        "what_are_your_hobbies",
        "what_can_i_ask_you",
        "change_ai_name",
        "change_user_name",
        "user_name",
        "change_accent",
        "change_speed",
        "change_volume",
        "whisper_mode",
        "flip_coin",
        "roll_dice",
        "yes",
        "no",
        "maybe",
        "repeat",
    }
)

CLINC150_COMPLAINTS: frozenset[str] = frozenset(
    {"card_declined", "damaged_card", "lost_luggage", "report_fraud", "account_blocked"}
)


def banking77_label(intent: str) -> str:
    """Triage class of a banking77 intent."""
    return "complaint" if intent in BANKING77_COMPLAINTS else "question"


def clinc150_label(intent: str) -> str:
    """Triage class of a clinc150 intent."""
    if intent in CLINC150_OTHER:
        return "other"
    if intent in CLINC150_COMPLAINTS:
        return "complaint"
    return "question"
