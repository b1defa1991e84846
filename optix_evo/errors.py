"""The library's error type for bad user input, and the rule for which error is raised where.

* :class:`InputError`: input that comes from outside the program. Every front door (a command-line flag, a file: a
  genome, a CSV, a run folder, a checkpoint; a ``--set`` or configuration value) and every lookup of a user-given
  name (``ox.get_optimizer``, ``ox.graph.get_space``, presets, bench row specs) raises it with one line that says what
  is wrong and what to do. The command line prints its message and exits with code 2.
* ``ValueError``: a bad argument to a Python function, as optax raises it: an optimizer's hyperparameter
  (``ox.adam(-1.0)``), a gradient tree that does not match the parameters, a missing ``grad_fn``.

:class:`InputError` subclasses ``ValueError``, so code that catches ``ValueError`` catches both.
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
