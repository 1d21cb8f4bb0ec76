"""Native (Cython) codec core. Import through the facades, never directly."""
