"""Reports: format figures that analysis computed. Nothing here computes a cost."""
