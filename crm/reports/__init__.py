"""Manager reports: periods, definitions, the figures, their screens and exports."""
