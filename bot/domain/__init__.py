"""Domain records and their repositories, written once against storage.base.TableStore."""
