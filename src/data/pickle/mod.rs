//! A reader of Python pickles, for the files of CIFAR's "python version".
//!
//! Those files are Python 2 `cPickle` dumps (protocol 2): a dict with byte-string keys whose
//! `data` is a numpy `uint8` array stored through `numpy.core.multiarray._reconstruct` and
//! whose labels are a list of ints. `serde-pickle` refuses (or replaces with `None`) the numpy
//! globals, so this module runs the pickle machine itself: every opcode of protocols 0–5 that
//! builds plain values, memo references with object identity (values live in an arena, the
//! stack and the memo hold indices), and `GLOBAL`/`REDUCE`/`BUILD`/`NEWOBJ` recorded as data,
//! never executed. [`Pickle::ndarray_u8`] then reads numpy's `_reconstruct` form.
//!
//! Anything else (an opcode that loads external objects, a truncated stream) is a
//! [`PickleError`] with the byte offset.

use std::borrow::Cow;

mod machine;

/// How deeply calls nest before [`Pickle::bytes`] gives up (a real pickle nests one level).
pub const MAX_DEPTH: usize = 16;

/// Index of an object in [`Pickle`]'s arena.
pub type Id = usize;

/// One unpickled object. Calls are recorded, not executed.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int that fits in 64 bits.
    Int(i64),
    /// A float.
    Float(f64),
    /// A byte string: Python 2 `str` (`BINSTRING`) or Python 3 `bytes`.
    Bytes(Vec<u8>),
    /// A text string (Python 2 `unicode`, Python 3 `str`).
    Text(String),
    /// A list.
    List(Vec<Id>),
    /// A tuple.
    Tuple(Vec<Id>),
    /// A dict, in insertion order.
    Dict(Vec<(Id, Id)>),
    /// A reference to `module.name`: the ids of two [`Object::Text`]s, shared, never copied
    /// (a pickle that names one long string a million times costs a million ids).
    Global {
        /// The module.
        module: Id,
        /// The attribute.
        name: Id,
    },
    /// `callable(*args)` (`REDUCE`, `NEWOBJ`), with the state a later `BUILD` gave it.
    Call {
        /// What would be called (usually a [`Object::Global`]).
        callable: Id,
        /// The argument tuple.
        args: Id,
        /// `BUILD`'s argument, if any.
        state: Option<Id>,
    },
}

/// Why a pickle could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at byte {offset}")]
pub struct PickleError {
    /// Offset of the opcode (or of the missing bytes).
    pub offset: usize,
    /// What went wrong.
    pub message: String,
}

/// An unpickled value: the arena of objects and the root.
#[derive(Debug, Clone)]
pub struct Pickle {
    objects: Vec<Object>,
    /// The object `STOP` returned.
    pub root: Id,
}

impl Pickle {
    /// Unpickles `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Pickle, PickleError> {
        let (objects, root) = machine::run(bytes)?;
        Ok(Pickle { objects, root })
    }

    /// The object `id`.
    pub fn get(&self, id: Id) -> &Object {
        &self.objects[id]
    }

    /// The value of `key` in dict `dict`, where the key is a byte or text string equal to `key`.
    pub fn dict_get(&self, dict: Id, key: &str) -> Option<Id> {
        let Object::Dict(items) = self.get(dict) else {
            return None;
        };
        items.iter().find_map(|(k, v)| {
            let matches = match self.get(*k) {
                Object::Bytes(b) => b == key.as_bytes(),
                Object::Text(t) => t == key,
                _ => false,
            };
            matches.then_some(*v)
        })
    }

    /// The ints of a list or tuple of ints.
    pub fn ints(&self, id: Id) -> Option<Vec<i64>> {
        let (Object::List(items) | Object::Tuple(items)) = self.get(id) else {
            return None;
        };
        items
            .iter()
            .map(|i| match self.get(*i) {
                Object::Int(v) => Some(*v),
                Object::Bool(b) => Some(*b as i64),
                _ => None,
            })
            .collect()
    }

    /// The bytes of a byte string, of a text string with only code points below 256
    /// (Python 3's protocol-2 `bytes` go through `_codecs.encode(text, "latin1")`), or of
    /// that `_codecs.encode` call.
    /// Calls nested deeper than [`MAX_DEPTH`] are not followed.
    pub fn bytes(&self, id: Id) -> Option<Cow<'_, [u8]>> {
        let mut id = id;
        for _ in 0..MAX_DEPTH {
            match self.get(id) {
                Object::Bytes(b) => return Some(Cow::Borrowed(b)),
                Object::Text(t) => {
                    return t
                        .chars()
                        .map(|c| u8::try_from(c as u32).ok())
                        .collect::<Option<Vec<u8>>>()
                        .map(Cow::Owned);
                }
                Object::Call { callable, args, .. }
                    if self.is_global(*callable, "_codecs", "encode") =>
                {
                    let Object::Tuple(a) = self.get(*args) else {
                        return None;
                    };
                    id = *a.first()?;
                }
                _ => return None,
            }
        }
        None
    }

    /// `module.name` of a global, for messages.
    pub fn global_name(&self, id: Id) -> Option<String> {
        match self.get(id) {
            Object::Global { module, name } => {
                Some(format!("{}.{}", self.text(*module)?, self.text(*name)?))
            }
            _ => None,
        }
    }

    fn text(&self, id: Id) -> Option<String> {
        match self.get(id) {
            Object::Bytes(b) => String::from_utf8(b.clone()).ok(),
            Object::Text(t) => Some(t.clone()),
            _ => None,
        }
    }

    fn is_global(&self, id: Id, module: &str, name: &str) -> bool {
        let is = |text: Id, want: &str| matches!(self.get(text), Object::Text(t) if t == want);
        matches!(self.get(id), Object::Global { module: m, name: n } if is(*m, module) && is(*n, name))
    }

    /// A numpy `uint8` array pickled through `numpy.core.multiarray._reconstruct` (numpy 1) or
    /// `numpy._core.multiarray._reconstruct` (numpy 2): its shape and its bytes, in C order.
    pub fn ndarray_u8(&self, id: Id) -> Result<(Vec<usize>, Cow<'_, [u8]>), NotAnArray> {
        let Object::Call {
            callable,
            state: Some(state),
            ..
        } = self.get(id)
        else {
            return Err(NotAnArray::NoReconstruct);
        };
        if !self.is_global(*callable, "numpy.core.multiarray", "_reconstruct")
            && !self.is_global(*callable, "numpy._core.multiarray", "_reconstruct")
        {
            return Err(NotAnArray::OtherCallable(
                self.global_name(*callable)
                    .unwrap_or_else(|| "something that is not a global".into()),
            ));
        }
        // ndarray.__setstate__((version, shape, dtype, is_fortran, data)).
        let Object::Tuple(s) = self.get(*state) else {
            return Err(NotAnArray::State(0));
        };
        let [_version, shape, dtype, fortran, data] = s[..] else {
            return Err(NotAnArray::State(s.len()));
        };
        let shape: Vec<usize> = self
            .ints(shape)
            .ok_or(NotAnArray::Shape)?
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| NotAnArray::Shape))
            .collect::<Result<_, _>>()?;
        let dtype_name = match self.get(dtype) {
            Object::Call { callable, args, .. } if self.is_global(*callable, "numpy", "dtype") => {
                match self.get(*args) {
                    Object::Tuple(a) => a.first().and_then(|t| self.text(*t)),
                    _ => None,
                }
            }
            _ => None,
        }
        .ok_or(NotAnArray::Dtype)?;
        if dtype_name != "u1" && dtype_name != "uint8" {
            return Err(NotAnArray::NotU8(dtype_name));
        }
        if matches!(self.get(fortran), Object::Bool(true)) && shape.len() > 1 {
            return Err(NotAnArray::Fortran);
        }
        let bytes = self.bytes(data).ok_or(NotAnArray::Data)?;
        let want = shape
            .iter()
            .try_fold(1usize, |n, d| n.checked_mul(*d))
            .ok_or_else(|| NotAnArray::Overflow(shape.clone()))?;
        if bytes.len() != want {
            return Err(NotAnArray::Length {
                bytes: bytes.len(),
                shape,
                expected: want,
            });
        }
        Ok((shape, bytes))
    }
}

/// Why a pickled object is not the numpy `uint8` array [`Pickle::ndarray_u8`] reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAnArray {
    /// No `_reconstruct(...)` call with a state.
    #[error("not a numpy array (no _reconstruct call with a state)")]
    NoReconstruct,
    /// Made by another callable.
    #[error("not a numpy array: made by {0}")]
    OtherCallable(String),
    /// The state is not the 5-tuple `ndarray.__setstate__` takes.
    #[error("numpy array state is not a tuple of 5 fields (it has {0})")]
    State(usize),
    /// The shape is not a tuple of non-negative ints.
    #[error("numpy array shape is not a tuple of non-negative ints")]
    Shape,
    /// The dtype is not a `numpy.dtype(...)`.
    #[error("numpy array dtype is not a numpy.dtype(...)")]
    Dtype,
    /// Another element type.
    #[error("numpy array of dtype {0}, expected u1 (uint8)")]
    NotU8(String),
    /// Fortran order.
    #[error("numpy array in Fortran order, expected C order")]
    Fortran,
    /// The data is not a byte string.
    #[error("numpy array data is not a byte string")]
    Data,
    /// The shape's element count overflows.
    #[error("numpy array shape {0:?} overflows")]
    Overflow(Vec<usize>),
    /// The data's length is not the shape's element count.
    #[error("numpy array of shape {shape:?} holds {bytes} bytes, expected {expected}")]
    Length {
        /// The shape.
        shape: Vec<usize>,
        /// Bytes held.
        bytes: usize,
        /// Bytes the shape needs.
        expected: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first bytes of CIFAR-10's `data_batch_1` as Python 2's cPickle wrote it (protocol
    /// 2), with a 2×3 array instead of 10000×3072 and two labels.
    fn cifar_like() -> Vec<u8> {
        let mut p = Vec::new();
        p.extend(b"\x80\x02}q\x01(U\x04dataq\x02cnumpy.core.multiarray\n_reconstruct\nq\x03");
        p.extend(b"cnumpy\nndarray\nq\x04K\x00\x85U\x01b\x87Rq\x05(K\x01K\x02K\x03\x86");
        p.extend(b"cnumpy\ndtype\nq\x06U\x02u1K\x00K\x01\x87Rq\x07(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb");
        p.extend(b"\x89T\x06\x00\x00\x00\x01\x02\x03\xfd\xfe\xfftbU\x06labelsq\x08]q\t(K\x06K\te");
        p.extend(b"U\x0bbatch_labelq\nh\tu.");
        p
    }

    #[test]
    fn reads_a_python2_numpy_pickle_as_cifar_writes_it() {
        let p = Pickle::parse(&cifar_like()).unwrap();
        let data = p.dict_get(p.root, "data").unwrap();
        let (shape, bytes) = p.ndarray_u8(data).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(bytes[..], [1, 2, 3, 253, 254, 255]);
        let labels = p.dict_get(p.root, "labels").unwrap();
        assert_eq!(p.ints(labels), Some(vec![6, 9]));
        // `h\t` fetched the memoised list: the same object, not a copy.
        assert_eq!(p.dict_get(p.root, "batch_label"), Some(labels));
    }

    #[test]
    fn every_truncation_is_an_error_with_an_offset_never_a_panic() {
        let full = cifar_like();
        for n in 0..full.len() {
            let err = Pickle::parse(&full[..n]).unwrap_err();
            assert!(err.message.contains("truncated"), "cut at {n}: {err}");
            assert!(err.offset <= n, "cut at {n}: {err}");
        }
    }

    #[test]
    fn an_opcode_outside_data_pickles_is_refused() {
        // INST (`i`) instantiates a class by name: not a data pickle.
        let err = Pickle::parse(b"\x80\x02i__main__\nX\n.").unwrap_err();
        assert!(err.to_string().contains("0x69"), "{err}");
        assert_eq!(err.offset, 2);
    }

    #[test]
    fn python3_protocol2_bytes_through_codecs_encode_are_read() {
        // pickle.dumps(b"\x00\xff", protocol=2) in Python 3.
        let p = Pickle::parse(b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00\x00\xc3\xbfq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.").unwrap();
        assert_eq!(p.bytes(p.root).unwrap()[..], [0, 255]);
    }

    #[test]
    fn globals_share_their_strings_so_memory_grows_with_the_file_not_its_references() {
        // One 100 kB module name, memoised, then STACK_GLOBAL 10,000 times over the memo.
        let name = "m".repeat(100_000);
        let mut p = b"\x80\x04".to_vec();
        p.push(0x8d);
        p.extend((name.len() as u64).to_le_bytes());
        p.extend(name.as_bytes());
        p.extend(b"q\x00\x8c\x01nq\x01(");
        for _ in 0..10_000 {
            p.extend(b"h\x00h\x01\x93");
        }
        p.extend(b"l.");
        let parsed = Pickle::parse(&p).unwrap();
        let texts: usize = parsed
            .objects
            .iter()
            .map(|o| match o {
                Object::Text(t) => t.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(texts, name.len() + 1, "strings were copied");
        let first = match parsed.get(parsed.root) {
            Object::List(items) => items[0],
            other => panic!("{other:?}"),
        };
        assert_eq!(parsed.global_name(first), Some(format!("{name}.n")));
    }

    #[test]
    fn codecs_encode_nested_past_the_depth_bound_is_refused_not_a_stack_overflow() {
        // _codecs.encode(_codecs.encode(...(b"x")...)) nested 200,000 deep: each round memoises
        // the inner value, pops it, and pushes encode((inner,)).
        let mut chain = b"\x80\x02c_codecs\nencode\nq\x00\x30C\x01x".to_vec();
        for _ in 0..200_000 {
            chain.extend(b"q\x01\x30h\x00h\x01\x85R");
        }
        chain.push(b'.');
        let parsed = Pickle::parse(&chain).unwrap();
        assert_eq!(parsed.bytes(parsed.root), None);
        // One level, as real pickles nest, is read.
        let one = b"\x80\x02c_codecs\nencode\nq\x00\x30C\x01xq\x01\x30h\x00h\x01\x85R.";
        let parsed = Pickle::parse(one).unwrap();
        assert_eq!(parsed.bytes(parsed.root).unwrap()[..], *b"x");
    }

    #[test]
    fn negative_and_wide_ints_decode() {
        // [-1, 300, -129 (LONG1), 2**40 (LONG1)]
        let p = Pickle::parse(
            b"\x80\x02](J\xff\xff\xff\xffM,\x01\x8a\x02\x7f\xff\x8a\x06\x00\x00\x00\x00\x00\x01e.",
        )
        .unwrap();
        assert_eq!(p.ints(p.root), Some(vec![-1, 300, -129, 1 << 40]));
    }
}
