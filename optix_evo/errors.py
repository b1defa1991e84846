"""The library's error type for bad user input.

Every front door (a file, a flag, a genome, a configuration value) raises :class:`InputError` with one line that
says what is wrong and what to do. It subclasses ``ValueError``, so code that catches ``ValueError`` keeps working;
the command line prints its message and exits with code 2.
"""


class InputError(ValueError):
  """Bad user input (a file, a flag, a genome, a setting): the message says what is wrong and what to do.

  Examples:
    >>> import optix_evo as ox
    >>> from optix_evo.errors import InputError
    >>> try:
    ...   ox.graph.get_space("bigger")
    ... except InputError as e:
    ...   print(e)
    Unknown genome space 'bigger'. Known spaces: nos, extended.
    >>> print(issubclass(InputError, ValueError))
    True
  """
