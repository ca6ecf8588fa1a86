"""The leadership report: a web page served by the bot (signed link, or the Teams personal tab with single sign-on)."""
