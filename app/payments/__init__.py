"""Where a payment is made exactly once: ``service.create_payment`` and its guards."""
