"""The provider network: organisations, their locations, the directory import."""
