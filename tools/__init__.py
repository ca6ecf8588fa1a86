"""Scripts that regenerate the project's shipped artefacts (``make retrain``, ``make refit``); not part of the bot."""
