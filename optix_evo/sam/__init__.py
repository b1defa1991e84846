"""sam"""
__all__: list[str] = []
