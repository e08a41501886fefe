"""Virtual fMRI Studio dashboard: pages, components, figure factories and the services door to core."""
