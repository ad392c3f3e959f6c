"""Exceptions raised by hierlearn."""


class DivergenceError(RuntimeError):
    """Training diverged: the loss became NaN or infinite, or grew past the divergence limit.

    Attributes:
        epoch: the epoch at which divergence was detected.
        loss: the last loss value seen (may be ``nan`` or ``inf``).
    """

    def __init__(self, message: str, epoch: int, loss: float):
        super().__init__(message)
        self.epoch = epoch
        self.loss = loss
