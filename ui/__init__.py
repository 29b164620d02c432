"""The Streamlit chat UI: a client of the BFF's native event stream (docs/ui.md)."""
