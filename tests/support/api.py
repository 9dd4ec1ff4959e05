"""One door to the JSON API for tests (in the style of Flask tutorial's ``AuthActions``)."""

from __future__ import annotations

from typing import Any

PAYMENTS = "/api/v1/payments"
_OMIT: Any = object()


class ApiClient:
    """``api.pay(patient, consultation, key="k1")``, ``api.confirm(staff, payment_id, ...)``.

    Each call returns the test client's response. A ``user`` is a factory user
    (it carries ``token``); ``consultation`` is a Consultation or its id.
    """

    def __init__(self, app) -> None:
        self.app = app

    def _post(self, user, path: str, body: dict, headers: dict | None = None):
        client = self.app.test_client()
        headers = {"Authorization": f"Bearer {user.token}", **(headers or {})}
        return client.post(path, json=body, headers=headers)

    def pay(
        self, user, consultation, *, method="gcash", key=None, amount=_OMIT, headers=None, **body
    ):
        """``POST /api/v1/payments``; ``key`` is the Idempotency-Key header, ``body`` adds
        fields (``idempotency_key=...``), ``headers`` adds or overrides headers."""
        consultation_id = getattr(consultation, "id", consultation)
        body = {"consultation_id": consultation_id, "payment_method": method, **body}
        if amount is not _OMIT:
            body["amount"] = amount
        sent = {"Idempotency-Key": key} if key is not None else {}
        return self._post(user, PAYMENTS, body, {**sent, **(headers or {})})

    def new_payment(self, user, consultation, **options) -> int:
        """A pending payment made as the patient's checkout does; its id (asserts 201)."""
        response = self.pay(user, consultation, **options)
        assert response.status_code == 201, response.json
        return response.json["data"]["payment"]["id"]

    def confirm(self, user, payment_id: int, transaction_id: str, **fields: Any):
        body = {"transaction_id": transaction_id, **fields}
        return self._post(user, f"{PAYMENTS}/{payment_id}/confirm", body)

    def refund(self, user, payment_id: int, reason: str = "Patient cancelled", **fields: Any):
        """``POST .../refund``; ``fields`` adds ``amount="500.00"``, ``expected_version=2``."""
        body = {"reason": reason, **fields}
        return self._post(user, f"{PAYMENTS}/{payment_id}/refund", body)

    def get(self, user, payment_id: int):
        client = self.app.test_client()
        return client.get(
            f"{PAYMENTS}/{payment_id}", headers={"Authorization": f"Bearer {user.token}"}
        )
