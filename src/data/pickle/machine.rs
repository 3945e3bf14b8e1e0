//! The pickle machine: runs the opcodes and leaves the objects in an arena.

use std::collections::HashMap;

use super::{Id, Object, PickleError};

/// The pickle machine's state while reading.
struct Machine<'a> {
    bytes: &'a [u8],
    pos: usize,
    objects: Vec<Object>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
    /// Offset of the opcode being run, for errors.
    at: usize,
}

impl<'a> Machine<'a> {
    fn err(&self, message: impl Into<String>) -> PickleError {
        PickleError {
            offset: self.at,
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(PickleError {
                offset: self.pos,
                message: format!(
                    "truncated: {n} more bytes expected, {} left",
                    self.bytes.len() - self.pos
                ),
            }),
        }
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len_u32(&mut self) -> Result<usize, PickleError> {
        Ok(u32::from_le_bytes(self.le()?) as usize)
    }

    fn len_u64(&mut self) -> Result<usize, PickleError> {
        usize::try_from(u64::from_le_bytes(self.le()?)).map_err(|_| self.err("length too large"))
    }

    /// A `\n`-terminated line (protocol 0 arguments), without the newline.
    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.bytes[self.pos..];
        let n = rest.iter().position(|b| *b == b'\n').ok_or(PickleError {
            offset: self.pos,
            message: "truncated: unterminated line".into(),
        })?;
        let line = &rest[..n];
        self.pos += n + 1;
        std::str::from_utf8(line).map_err(|_| self.err("line is not UTF-8"))
    }

    fn push(&mut self, object: Object) {
        let id = self.add(object);
        self.stack.push(id);
    }

    /// Puts `object` in the arena without pushing it.
    fn add(&mut self, object: Object) -> Id {
        self.objects.push(object);
        self.objects.len() - 1
    }

    fn pop(&mut self) -> Result<Id, PickleError> {
        if self.marks.last().is_some_and(|m| *m >= self.stack.len()) {
            return Err(self.err("stack underflow (pop across a mark)"));
        }
        self.stack.pop().ok_or_else(|| self.err("stack underflow"))
    }

    fn top(&self) -> Result<Id, PickleError> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.err("stack underflow"))
    }

    /// The items pushed since the last `MARK`, removed from the stack.
    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let mark = self.marks.pop().ok_or_else(|| self.err("no MARK"))?;
        Ok(self.stack.split_off(mark))
    }

    fn memo_get(&mut self, key: u64) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.err(format!("memo key {key} was never stored")))?;
        self.stack.push(id);
        Ok(())
    }

    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn append(&mut self, list: Id, items: Vec<Id>) -> Result<(), PickleError> {
        match &mut self.objects[list] {
            Object::List(v) => {
                v.extend(items);
                Ok(())
            }
            _ => Err(self.err("APPEND on something that is not a list")),
        }
    }

    fn set_items(&mut self, dict: Id, items: Vec<Id>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.err("SETITEMS with an odd number of items"));
        }
        match &mut self.objects[dict] {
            Object::Dict(v) => {
                v.extend(items.chunks_exact(2).map(|kv| (kv[0], kv[1])));
                Ok(())
            }
            _ => Err(self.err("SETITEM on something that is not a dict")),
        }
    }

    fn tuple(&mut self, n: usize) -> Result<(), PickleError> {
        if self.stack.len() < n || self.marks.last().is_some_and(|m| *m > self.stack.len() - n) {
            return Err(self.err("stack underflow"));
        }
        let items = self.stack.split_off(self.stack.len() - n);
        self.push(Object::Tuple(items));
        Ok(())
    }

    fn int_line(&mut self) -> Result<Object, PickleError> {
        let line = self.line()?.trim_end_matches('L');
        Ok(match line {
            "00" => Object::Bool(false),
            "01" => Object::Bool(true),
            _ => Object::Int(line.parse().map_err(|_| self.err("bad INT"))?),
        })
    }

    fn long(&mut self, n: usize) -> Result<Object, PickleError> {
        let bytes = self.take(n)?;
        if n > 8 {
            return Err(self.err("integer wider than 64 bits"));
        }
        let mut v: i64 = 0;
        for (i, b) in bytes.iter().enumerate() {
            v |= (*b as i64) << (8 * i);
        }
        if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
            v -= 1i64 << (8 * n); // two's complement of an n-byte number
        }
        Ok(Object::Int(v))
    }

    fn text(&mut self, n: usize) -> Result<Object, PickleError> {
        let bytes = self.take(n)?;
        let s = std::str::from_utf8(bytes).map_err(|_| self.err("string is not UTF-8"))?;
        Ok(Object::Text(s.to_string()))
    }

    /// Runs one opcode; `Some(root)` at `STOP`.
    fn step(&mut self) -> Result<Option<Id>, PickleError> {
        self.at = self.pos;
        let op = self.u8()?;
        match op {
            0x80 => {
                let proto = self.u8()?;
                if proto > 5 {
                    return Err(self.err(format!("pickle protocol {proto} is unknown")));
                }
            }
            0x95 => {
                self.take(8)?; // FRAME: a length hint only
            }
            b'.' => return self.pop().map(Some),
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let t = self.top()?;
                self.stack.push(t);
            }
            b'N' => self.push(Object::None),
            0x88 => self.push(Object::Bool(true)),
            0x89 => self.push(Object::Bool(false)),
            b'J' => {
                let v = i32::from_le_bytes(self.le()?);
                self.push(Object::Int(v as i64));
            }
            b'K' => {
                let v = self.u8()?;
                self.push(Object::Int(v as i64));
            }
            b'M' => {
                let v = u16::from_le_bytes(self.le()?);
                self.push(Object::Int(v as i64));
            }
            b'I' | b'L' => {
                let v = self.int_line()?;
                self.push(v);
            }
            0x8a => {
                let n = self.u8()? as usize;
                let v = self.long(n)?;
                self.push(v);
            }
            0x8b => {
                let n = self.len_u32()?;
                let v = self.long(n)?;
                self.push(v);
            }
            b'G' => {
                let v = f64::from_be_bytes(self.le()?);
                self.push(Object::Float(v));
            }
            b'F' => {
                let line = self.line()?;
                let v = line.parse().map_err(|_| self.err("bad FLOAT"))?;
                self.push(Object::Float(v));
            }
            b'U' | b'C' => {
                let n = self.u8()? as usize;
                let b = self.take(n)?.to_vec();
                self.push(Object::Bytes(b));
            }
            b'T' => {
                let n = i32::from_le_bytes(self.le()?);
                let n = usize::try_from(n).map_err(|_| self.err("negative BINSTRING length"))?;
                let b = self.take(n)?.to_vec();
                self.push(Object::Bytes(b));
            }
            b'B' => {
                let n = self.len_u32()?;
                let b = self.take(n)?.to_vec();
                self.push(Object::Bytes(b));
            }
            0x8e => {
                let n = self.len_u64()?;
                let b = self.take(n)?.to_vec();
                self.push(Object::Bytes(b));
            }
            0x8c => {
                let n = self.u8()? as usize;
                let v = self.text(n)?;
                self.push(v);
            }
            b'X' => {
                let n = self.len_u32()?;
                let v = self.text(n)?;
                self.push(v);
            }
            0x8d => {
                let n = self.len_u64()?;
                let v = self.text(n)?;
                self.push(v);
            }
            b']' => self.push(Object::List(Vec::new())),
            b'l' => {
                let items = self.pop_mark()?;
                self.push(Object::List(items));
            }
            b'a' => {
                let item = self.pop()?;
                let list = self.top()?;
                self.append(list, vec![item])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                let list = self.top()?;
                self.append(list, items)?;
            }
            b')' => self.push(Object::Tuple(Vec::new())),
            b't' => {
                let items = self.pop_mark()?;
                self.push(Object::Tuple(items));
            }
            0x85 => self.tuple(1)?,
            0x86 => self.tuple(2)?,
            0x87 => self.tuple(3)?,
            b'}' => self.push(Object::Dict(Vec::new())),
            b'd' => {
                let items = self.pop_mark()?;
                self.push(Object::Dict(Vec::new()));
                let dict = self.top()?;
                self.set_items(dict, items)?;
            }
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                let dict = self.top()?;
                self.set_items(dict, vec![key, value])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                let dict = self.top()?;
                self.set_items(dict, items)?;
            }
            b'p' => {
                let key = self.line()?.parse().map_err(|_| self.err("bad PUT"))?;
                self.memo_put(key)?;
            }
            b'q' => {
                let key = self.u8()? as u64;
                self.memo_put(key)?;
            }
            b'r' => {
                let key = self.len_u32()? as u64;
                self.memo_put(key)?;
            }
            0x94 => {
                let key = self.memo.len() as u64;
                self.memo_put(key)?;
            }
            b'g' => {
                let key = self.line()?.parse().map_err(|_| self.err("bad GET"))?;
                self.memo_get(key)?;
            }
            b'h' => {
                let key = self.u8()? as u64;
                self.memo_get(key)?;
            }
            b'j' => {
                let key = self.len_u32()? as u64;
                self.memo_get(key)?;
            }
            b'c' => {
                let module = self.line()?.to_string();
                let name = self.line()?.to_string();
                let module = self.add(Object::Text(module));
                let name = self.add(Object::Text(name));
                self.push(Object::Global { module, name });
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (&self.objects[module], &self.objects[name]) {
                    (Object::Text(_), Object::Text(_)) => {
                        self.push(Object::Global { module, name });
                    }
                    _ => return Err(self.err("STACK_GLOBAL needs two strings")),
                }
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let callable = self.pop()?;
                self.push(Object::Call {
                    callable,
                    args,
                    state: None,
                });
            }
            b'b' => {
                let state = self.pop()?;
                let target = self.top()?;
                match &mut self.objects[target] {
                    Object::Call { state: s, .. } => *s = Some(state),
                    _ => return Err(self.err("BUILD on something that is not an object")),
                }
            }
            other => {
                return Err(self.err(format!(
                    "pickle opcode 0x{other:02x} is not supported (not a data pickle)"
                )));
            }
        }
        Ok(None)
    }
}

/// Runs the pickle in `bytes` to its `STOP`: the objects and the root's index.
pub(super) fn run(bytes: &[u8]) -> Result<(Vec<Object>, Id), PickleError> {
    let mut m = Machine {
        bytes,
        pos: 0,
        objects: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        at: 0,
    };
    loop {
        if m.pos >= bytes.len() {
            return Err(PickleError {
                offset: m.pos,
                message: "truncated: the pickle ends before its STOP opcode".into(),
            });
        }
        if let Some(root) = m.step()? {
            return Ok((m.objects, root));
        }
    }
}
