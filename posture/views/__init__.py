"""Dashboard views, one module per page family. Every view needs a login and a role."""
