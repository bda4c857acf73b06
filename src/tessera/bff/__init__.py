"""The backend-for-frontend: the browser holds only an httpOnly session cookie; the tokens
stay here, encrypted at rest, and API calls go through a CSRF-protected proxy."""
