"""A Discord customer-support bot with a fine-tuned model, a bartender persona and training from Discord."""
