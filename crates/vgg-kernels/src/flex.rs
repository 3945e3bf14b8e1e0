//! The bridge between burn's tensors and the slice kernels of [`super::conv`],
//! [`super::pool`] and [`super::lrn`]: takes the flex primitives out of burn's dispatch layer and, on an autodiff
//! device, records each operation in burn's graph with a hand-written backward
//! (burn-autodiff's `Backward`, the extension point burn's own modules use).
//!
//! Activations leave these kernels channels-last: a flex tensor of shape `[N, C, H, W]` whose
//! strides put the channels innermost (PyTorch's `channels_last`). The next kernel reads it as it
//! is, so a run of VGG layers never transposes; burn's own ops read the strides like any view.
//! Input in NCHW order is reordered once, at the first layer.
//!
//! Every function returns `None` (and leaves the work to burn) when its tensors are not flex
//! tensors, or are recorded with gradient checkpointing, which the kernels do not implement.

use std::borrow::Cow;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Flex, TensorMetadata};
use burn::prelude::*;
use burn::tensor::{Shape, TensorData};

use super::conv::{self, ConvGeometry, Wanted};
use super::layout::{Order, reorder};
use super::lrn::{self, LrnParams};
use super::pool::{self, PoolGeometry};

/// burn's autodiff over flex, as the dispatch layer builds it (no gradient checkpointing).
type Ad = Autodiff<Flex>;
/// A flex tensor recorded in the autodiff graph.
type AdTensor = FloatTensor<Ad>;

/// `t` as a recorded flex tensor, if it is one.
fn tracked<const D: usize>(t: &Tensor<D>) -> Option<AdTensor> {
    t.clone().try_into_primitive::<Ad>().ok()
}

/// `t` as a plain flex tensor, if it is one.
fn plain<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    t.clone().try_into_primitive::<Flex>().ok()
}

/// `t` as a recorded flex tensor: recorded already, or a plain flex tensor made a constant leaf
/// of the graph (the input batch of a model whose parameters are tracked).
fn tracked_or_leaf<const D: usize>(t: &Tensor<D>) -> Option<AdTensor> {
    tracked(t).or_else(|| plain(t).map(Ad::from_inner))
}

fn wrap<const D: usize>(t: AdTensor) -> Tensor<D> {
    Tensor::from_primitive::<Ad>(t)
}

// ---------------------------------------------------------------------------------------------
// Memory orders

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let shape = t.shape();
    [shape[0], shape[1], shape[2], shape[3]]
}

/// The order of a dense 4-d f32 tensor stored from offset 0 in NCHW or NHWC order.
fn order_of(t: &FlexTensor) -> Option<Order> {
    let layout = t.layout();
    let dims = dims4(t);
    let len: usize = dims.iter().product();
    if layout.start_offset() != 0 || t.bytes().len() < len * 4 {
        return None;
    }
    [Order::Nhwc, Order::Nchw].into_iter().find(|order| {
        dims.iter()
            .zip(layout.strides())
            .zip(order.strides(dims))
            .all(|((d, s), want)| *d <= 1 || *s == want as isize)
    })
}

/// The dense elements of `t`, stored in `order` (see [`order_of`]).
fn values(t: &FlexTensor) -> &[f32] {
    let len: usize = dims4(t).iter().product();
    &t.storage::<f32>()[..len]
}

/// `t`'s elements in `order`: borrowed when `t` is stored so, reordered otherwise.
fn elements_in(t: &FlexTensor, order: Order) -> Cow<'_, [f32]> {
    let dims = dims4(t);
    match order_of(t) {
        Some(o) if o == order => Cow::Borrowed(values(t)),
        Some(o) => Cow::Owned(reorder(values(t), dims, o, order)),
        None => {
            let c = t.to_contiguous();
            Cow::Owned(reorder(values(&c), dims, Order::Nchw, order))
        }
    }
}

/// `t` itself when stored in `order`, else a copy that is.
fn with_order(t: FlexTensor, order: Order) -> FlexTensor {
    match elements_in(&t, order) {
        Cow::Borrowed(_) => t,
        Cow::Owned(v) => tensor(v, dims4(&t), order),
    }
}

/// Applies `f` to `t`'s elements in `order`: in place when `t` is stored so and not shared (as
/// a gradient burn hands over usually is), on a copy otherwise. Returns the tensor holding them.
fn modified_in(mut t: FlexTensor, order: Order, f: impl FnOnce(&mut [f32])) -> FlexTensor {
    let dims = dims4(&t);
    let len: usize = dims.iter().product();
    if order_of(&t) == Some(order)
        && let Some(buf) = t.try_storage_mut::<f32>()
    {
        f(&mut buf[..len]);
        return t;
    }
    let mut v = elements_in(&t, order).into_owned();
    f(&mut v);
    tensor(v, dims, order)
}

/// A `[n, c, h, w]` flex tensor over `values` stored in `order`.
fn tensor(values: Vec<f32>, dims: [usize; 4], order: Order) -> FlexTensor {
    let strides = order.strides(dims).map(|s| s as isize).to_vec();
    let len = values.len();
    FlexTensor::from_data(TensorData::new(values, [len])).with_layout(Layout::new(
        Shape::from(dims),
        strides,
        0,
    ))
}

/// The contiguous elements of a parameter (weights, bias).
fn param_values(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

fn param_data(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("kernels: parameters are made contiguous f32 before use")
}

fn flat(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

// ---------------------------------------------------------------------------------------------
// Convolution (+ fused ReLU)

/// What a convolution's backward needs: its input (channels last), weights and, with a fused
/// ReLU, its output.
#[derive(Clone, Debug)]
struct ConvState {
    x: FlexTensor,
    weight: FlexTensor,
    relu_output: Option<FlexTensor>,
    geometry: ConvGeometry,
}

/// Backward of a convolution with `N` recorded operands: input, weight and, if `N == 3`, bias.
#[derive(Debug)]
struct ConvBackward<const N: usize>;

impl<const N: usize> Backward<Flex, N> for ConvBackward<N> {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let mut parents = ops.parents.into_iter();
        let (x_node, w_node) = (parents.next().flatten(), parents.next().flatten());
        let b_node = parents.next().flatten();
        let s = ops.state;
        let g = s.geometry;
        let dy = match &s.relu_output {
            Some(y) => modified_in(dy, Order::Nhwc, |d| conv::mask_relu(d, values(y))),
            None => with_order(dy, Order::Nhwc),
        };
        let grads_of = conv::backward(
            values(&s.x),
            param_data(&s.weight),
            values(&dy),
            &g,
            Wanted {
                input: x_node.is_some(),
                weight: w_node.is_some(),
                bias: b_node.is_some(),
            },
        );
        if let (Some(node), Some(dx)) = (x_node, grads_of.input) {
            let dims = [g.batch, g.c_in, g.height, g.width];
            grads.register::<Flex>(node.id, tensor(dx, dims, Order::Nhwc));
        }
        if let (Some(node), Some(dw)) = (w_node, grads_of.weight) {
            let shape = [g.c_out, g.c_in, g.kernel, g.kernel];
            grads.register::<Flex>(node.id, flat(dw, shape));
        }
        if let (Some(node), Some(db)) = (b_node, grads_of.bias) {
            grads.register::<Flex>(node.id, flat(db, [g.c_out]));
        }
    }
}

/// Records the operation `op`, whose output is `output`, in the graph of its `operands`; its
/// backward state is made only when some operand is tracked.
fn record<Op: Backward<Flex, N>, const N: usize>(
    op: Op,
    operands: [&AdTensor; N],
    state: impl FnOnce() -> Op::State,
    output: FlexTensor,
) -> AdTensor {
    let guards = operands.map(|t| t.node());
    match op
        .prepare::<NoCheckpointing>(guards)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state(), output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

fn run_conv(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    g: &ConvGeometry,
    relu: bool,
) -> FlexTensor {
    let y = conv::forward(values(x), param_data(weight), bias.map(param_data), g, relu);
    tensor(y, [g.batch, g.c_out, g.height, g.width], Order::Nhwc)
}

/// `act(conv(x, weight) + bias)` on flex, recorded for autodiff when the weights are.
pub(super) fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    geometry: ConvGeometry,
    relu: bool,
) -> Option<Tensor<4>> {
    if let Some(w) = tracked(&weight) {
        let x = tracked_or_leaf(&x)?;
        let b = match &bias {
            Some(b) => Some(tracked(b)?),
            None => None,
        };
        let x_data = with_order(x.primitive().clone(), Order::Nhwc);
        let w_data = param_values(w.primitive().clone());
        let b_data = b.as_ref().map(|b| param_values(b.primitive().clone()));
        let output = run_conv(&x_data, &w_data, b_data.as_ref(), &geometry, relu);
        let state = || ConvState {
            x: x_data,
            weight: w_data,
            relu_output: relu.then(|| output.clone()),
            geometry,
        };
        let y = match &b {
            Some(b) => record(ConvBackward::<3>, [&x, &w, b], state, output.clone()),
            None => record(ConvBackward::<2>, [&x, &w], state, output.clone()),
        };
        return Some(wrap(y));
    }
    let x_data = with_order(plain(&x)?, Order::Nhwc);
    let w_data = param_values(plain(&weight)?);
    let b_data = match &bias {
        Some(b) => Some(param_values(plain(b)?)),
        None => None,
    };
    let output = run_conv(&x_data, &w_data, b_data.as_ref(), &geometry, relu);
    Some(Tensor::from_primitive::<Flex>(output))
}

// ---------------------------------------------------------------------------------------------
// ReLU

#[derive(Debug)]
struct ReluBackward;

impl Backward<Flex, 1> for ReluBackward {
    /// The ReLU's output, whose sign is the mask.
    type State = FlexTensor;

    fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let [node] = ops.parents;
        if let Some(node) = node {
            let y = &ops.state;
            let order = order_of(y).expect("relu output is dense");
            let dx = modified_in(dy, order, |d| conv::mask_relu(d, values(y)));
            grads.register::<Flex>(node.id, dx);
        }
    }
}

/// `max(x, 0)` of a 4-d tensor, in the input's memory order.
fn run_relu(x: FlexTensor) -> FlexTensor {
    let (x, order) = match order_of(&x) {
        Some(order) => (x, order),
        None => (with_order(x, Order::Nchw), Order::Nchw),
    };
    tensor(conv::relu(values(&x)), dims4(&x), order)
}

/// `max(x, 0)` on flex, recorded for autodiff when `x` is.
pub(super) fn relu(x: Tensor<4>) -> Option<Tensor<4>> {
    if let Some(x) = tracked(&x) {
        let output = run_relu(x.primitive().clone());
        let y = record(ReluBackward, [&x], || output.clone(), output.clone());
        return Some(wrap(y));
    }
    Some(Tensor::from_primitive::<Flex>(run_relu(plain(&x)?)))
}

// ---------------------------------------------------------------------------------------------
// Max-pool

/// Which pixel won each window (shared: the state is cloned by reference).
#[derive(Clone)]
struct Winners(Arc<[u8]>);

impl std::fmt::Debug for Winners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Winners({} windows)", self.0.len())
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    type State = (Winners, PoolGeometry, Order);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let [node] = ops.parents;
        let (winners, g, order) = ops.state;
        if let Some(node) = node {
            let dx = pool::backward(&elements_in(&dy, order), &winners.0, &g, order);
            let dims = [g.batch, g.channels, g.height, g.width];
            grads.register::<Flex>(node.id, tensor(dx, dims, order));
        }
    }
}

/// The pool of `x` in its own memory order, and the winners.
fn run_max_pool(x: FlexTensor, g: &PoolGeometry) -> (FlexTensor, Vec<u8>, Order) {
    let (x, order) = match order_of(&x) {
        Some(order) => (x, order),
        None => (with_order(x, Order::Nchw), Order::Nchw),
    };
    let (y, winners) = pool::forward(values(&x), g, order);
    let dims = [g.batch, g.channels, g.out_height(), g.out_width()];
    (tensor(y, dims, order), winners, order)
}

/// The 2×2/2 max-pool on flex, recorded for autodiff when `x` is.
pub(super) fn max_pool2d(x: Tensor<4>, geometry: PoolGeometry) -> Option<Tensor<4>> {
    if let Some(x) = tracked(&x) {
        let (output, winners, order) = run_max_pool(x.primitive().clone(), &geometry);
        let state = || (Winners(winners.into()), geometry, order);
        let y = record(MaxPoolBackward, [&x], state, output);
        return Some(wrap(y));
    }
    let (output, _, _) = run_max_pool(plain(&x)?, &geometry);
    Some(Tensor::from_primitive::<Flex>(output))
}

// ---------------------------------------------------------------------------------------------
// Local response normalisation

/// What the LRN's backward needs: its input (channels last) and `d^(−β)` per value.
#[derive(Clone)]
struct LrnState {
    x: FlexTensor,
    scale: Arc<[f32]>,
    params: LrnParams,
}

impl std::fmt::Debug for LrnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LrnState({:?}, {:?})", dims4(&self.x), self.params)
    }
}

#[derive(Debug)]
struct LrnBackward;

impl Backward<Flex, 1> for LrnBackward {
    type State = LrnState;

    fn backward(self, ops: Ops<LrnState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let [node] = ops.parents;
        if let Some(node) = node {
            let s = ops.state;
            let dims = dims4(&s.x);
            let dx = lrn::backward(
                &elements_in(&dy, Order::Nhwc),
                values(&s.x),
                &s.scale,
                dims[1],
                &s.params,
            );
            grads.register::<Flex>(node.id, tensor(dx, dims, Order::Nhwc));
        }
    }
}

/// The LRN of `x` (made channels last), and `d^(−β)`.
fn run_lrn(x: FlexTensor, params: &LrnParams) -> (FlexTensor, FlexTensor, Vec<f32>) {
    let x = with_order(x, Order::Nhwc);
    let dims = dims4(&x);
    let (y, scale) = lrn::forward(values(&x), dims[1], params);
    (tensor(y, dims, Order::Nhwc), x, scale)
}

/// The LRN across channels on flex, recorded for autodiff when `x` is.
pub(super) fn local_response_norm(x: Tensor<4>, params: LrnParams) -> Option<Tensor<4>> {
    if x.dims()[1] == 0 {
        return None;
    }
    if let Some(x) = tracked(&x) {
        let (output, x_data, scale) = run_lrn(x.primitive().clone(), &params);
        let state = || LrnState {
            x: x_data,
            scale: scale.into(),
            params,
        };
        let y = record(LrnBackward, [&x], state, output);
        return Some(wrap(y));
    }
    let (output, _, _) = run_lrn(plain(&x)?, &params);
    Some(Tensor::from_primitive::<Flex>(output))
}
