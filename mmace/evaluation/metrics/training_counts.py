"""The training class counts a long-tail metric groups its classes by."""
from typing import Optional

import numpy as np

from ...datasets.class_counts import resolve_class_counts


class TrainingCountsMixin:
    """``class_counts`` of the long-tail metrics of every task
    (:class:`LongTailAccuracy`, ``LongTailCocoMetric``,
    ``LongTailIoUMetric``).

    ``class_counts`` is what
    :func:`mmace.datasets.class_counts.resolve_class_counts` accepts
    (explicit counts, a dataset config, a dataset; a tensor too), resolved
    once, at the first evaluation, so the metric can be built before the
    counts are known. ``'auto'`` is filled by ``LongTailRunner``
    (``takes_class_counts``). Setting ``class_counts`` drops the resolved
    counts.
    """

    #: ``class_counts`` left out of a config means 'auto' (LongTailRunner).
    takes_class_counts = True

    @property
    def class_counts(self):
        """The ``class_counts`` spec."""
        return self._class_counts

    @class_counts.setter
    def class_counts(self, value):
        self._class_counts = value
        self._resolved_counts = None

    def training_counts(self, num_classes: Optional[int],
                        evaluated: str) -> np.ndarray:
        """The resolved counts, checked against the evaluated classes.

        Args:
            num_classes (int, optional): Number of evaluated classes; None
                skips the check.
            evaluated (str): What ``num_classes`` counts, for the error.

        Returns:
            np.ndarray: ``int64`` counts in class-index order.
        """
        name = type(self).__name__
        if self._resolved_counts is None:
            try:
                self._resolved_counts = resolve_class_counts(
                    self._class_counts)
            except ValueError as e:  # e.g. an 'auto' never filled in
                raise ValueError(f'{name}: {e}') from e
        counts = self._resolved_counts
        if num_classes is not None and len(counts) != num_classes:
            raise ValueError(
                f'{name}: class_counts has {len(counts)} classes but '
                f'{evaluated} has {num_classes}; class_counts must come from '
                'the training set of the evaluated model')
        return counts
