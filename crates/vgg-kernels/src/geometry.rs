//! The shape of a convolution: what every convolution module of the crate (the GEMM path, the
//! direct path, the column matrix) agrees on, and depends on nothing.

/// Shape of a stride-1 convolution with a k×k kernel (k odd) and zero padding k/2 on every side,
/// so the output map has the input's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Images.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Map height (input and output).
    pub height: usize,
    /// Map width (input and output).
    pub width: usize,
    /// Kernel side (odd).
    pub kernel: usize,
}

impl ConvGeometry {
    /// Pixels per map.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }

    /// Kernel taps.
    pub(crate) fn taps(&self) -> usize {
        self.kernel * self.kernel
    }

    /// Columns of the column matrix: one per (kernel tap, input channel).
    pub(crate) fn patch(&self) -> usize {
        self.taps() * self.c_in
    }

    /// Elements of the input, `[batch, height, width, c_in]`.
    pub fn input_len(&self) -> usize {
        self.batch * self.plane() * self.c_in
    }

    /// Elements of the output, `[batch, height, width, c_out]`.
    pub fn output_len(&self) -> usize {
        self.batch * self.plane() * self.c_out
    }

    /// Elements of the weight, `[c_out, c_in, kernel, kernel]`.
    pub fn weight_len(&self) -> usize {
        self.c_out * self.patch()
    }

    /// The convolution that computes the input gradient: dY (c_out channels) convolved with the
    /// weights rotated by 180° and with in/out swapped.
    pub(crate) fn transposed(&self) -> Self {
        Self {
            c_in: self.c_out,
            c_out: self.c_in,
            ..*self
        }
    }
}
