"""The CoP health scorecard: facts gathered from storage, rated by the engine, drawn as a trend chart."""
