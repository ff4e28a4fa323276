"""A local ECR endpoint for tests and CI, and `ecrd demo` built on it."""
