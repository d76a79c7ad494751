//! Where CSV records end, found without parsing them, so that a file can be cut into blocks of
//! whole records that decode in parallel.
//!
//! The scanner follows csv-core's reader (what arrow-csv uses) for the dialects it is used on:
//! `\r`, `\n` and `\r\n` end records; blank lines are no records; a quote opens a quoted field
//! only at the start of a field (elsewhere it is a literal character); inside quotes, a doubled
//! quote is a literal quote and terminators are data. Escape characters, comment lines and custom
//! terminators change that grammar: those reads stay sequential (see `parallel_safe`).

/// Where the scan is in the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a record: terminators here are blank lines.
    RecordStart,
    /// In an unquoted field (or after a closed quoted field): a quote right after a delimiter
    /// opens a quoted field.
    Unquoted,
    /// Inside quotes.
    Quoted,
    /// Just after a quote inside quotes: a second quote is a literal, anything else closes.
    QuoteInQuoted,
}

/// Counts records over a growing buffer and finds where the `want`-th one ends.
#[derive(Debug)]
pub(crate) struct RecordEnds {
    quote: u8,
    delimiter: u8,
    state: State,
    /// Bytes of the buffer already scanned.
    pos: usize,
    /// Records ended since the last cut.
    records: u64,
}

impl RecordEnds {
    pub(crate) fn new(quote: u8, delimiter: u8) -> Self {
        RecordEnds {
            quote,
            delimiter,
            state: State::RecordStart,
            pos: 0,
            records: 0,
        }
    }

    /// Scans what `buf` holds beyond the last call (the buffer only grows between calls, and
    /// starts at the last cut). Returns the offset just after the terminator of the `want`-th
    /// record since the last cut, if `buf` holds it; the caller then cuts there and calls
    /// [`Self::cut`].
    pub(crate) fn advance(&mut self, buf: &[u8], want: u64) -> Option<usize> {
        let (quote, delimiter) = (self.quote, self.delimiter);
        while self.pos < buf.len() {
            match self.state {
                State::RecordStart => {
                    let b = buf[self.pos];
                    if b == b'\n' || b == b'\r' {
                        self.pos += 1;
                    } else if b == quote {
                        self.state = State::Quoted;
                        self.pos += 1;
                    } else {
                        // The byte is looked at again in `Unquoted` (a delimiter then a quote
                        // opens the second field quoted).
                        self.state = State::Unquoted;
                        if b == delimiter {
                            self.pos += 1;
                        }
                    }
                }
                State::Unquoted => {
                    let Some(i) = memchr::memchr3(quote, b'\n', b'\r', &buf[self.pos..]) else {
                        self.pos = buf.len();
                        break;
                    };
                    let at = self.pos + i;
                    self.pos = at + 1;
                    if buf[at] == quote {
                        // `at > 0`: in `Unquoted` at least one byte of the record precedes.
                        if at > 0 && buf[at - 1] == delimiter {
                            self.state = State::Quoted;
                        }
                    } else if self.end_record(want) {
                        return Some(self.pos);
                    }
                }
                State::Quoted => match memchr::memchr(quote, &buf[self.pos..]) {
                    None => {
                        self.pos = buf.len();
                        break;
                    }
                    Some(i) => {
                        self.pos += i + 1;
                        self.state = State::QuoteInQuoted;
                    }
                },
                State::QuoteInQuoted => {
                    let b = buf[self.pos];
                    if b == quote {
                        self.state = State::Quoted;
                        self.pos += 1;
                    } else if b == b'\n' || b == b'\r' {
                        self.pos += 1;
                        if self.end_record(want) {
                            return Some(self.pos);
                        }
                    } else {
                        // A closed quote: the rest of the field reads as unquoted text.
                        self.state = State::Unquoted;
                        if b == delimiter {
                            // Keeps `buf[at - 1] == delimiter` meaningful for the next quote.
                            continue;
                        }
                        self.pos += 1;
                    }
                }
            }
        }
        None
    }

    fn end_record(&mut self, want: u64) -> bool {
        self.state = State::RecordStart;
        self.records += 1;
        self.records >= want
    }

    /// The buffer was cut at `at` (an offset [`Self::advance`] returned): counting restarts.
    pub(crate) fn cut(&mut self, at: usize) {
        self.pos -= at;
        self.records = 0;
    }

    /// Records ended since the last cut, plus one for a last record without a terminator
    /// (what the decoder makes of the rest of the buffer at the end of the input).
    pub(crate) fn records_at_end(&self) -> u64 {
        self.records + u64::from(self.state != State::RecordStart)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cuts `text` into blocks of `n` records, feeding it `step` bytes at a time.
    fn blocks(text: &[u8], n: u64, step: usize) -> Vec<String> {
        let mut ends = RecordEnds::new(b'"', b',');
        let (mut out, mut buf, mut fed) = (vec![], Vec::new(), 0);
        loop {
            if let Some(at) = ends.advance(&buf, n) {
                out.push(String::from_utf8_lossy(&buf[..at]).into_owned());
                buf.drain(..at);
                ends.cut(at);
                continue;
            }
            if fed == text.len() {
                break;
            }
            let next = (fed + step).min(text.len());
            buf.extend_from_slice(&text[fed..next]);
            fed = next;
        }
        if !buf.is_empty() {
            out.push(String::from_utf8_lossy(&buf).into_owned());
        }
        out
    }

    #[test]
    fn cuts_only_between_records_whatever_the_read_sizes() {
        let text = b"a,b\n1,\"x\ny\"\n2,\"say \"\"hi\"\"\n\"\n3,5'3\"\n\"4\",\"\"\n";
        for step in [1, 2, 3, 7, 100] {
            assert_eq!(
                blocks(text, 2, step),
                [
                    "a,b\n1,\"x\ny\"\n",
                    "2,\"say \"\"hi\"\"\n\"\n3,5'3\"\n",
                    "\"4\",\"\"\n"
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn blank_lines_and_crlf_are_not_records() {
        let text = b"\r\n\na,b\r\n\r\n1,2\r\n3,4";
        let mut ends = RecordEnds::new(b'"', b',');
        // The second record ends at its `\r`; the `\n` after the cut is a blank line.
        assert_eq!(ends.advance(text, 2), Some(14));
        ends.cut(14);
        assert_eq!(ends.advance(&text[14..], 2), None);
        assert_eq!(ends.records_at_end(), 1, "`3,4` has no terminator");
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_literal() {
        // The quote in `5'3"` does not open a field: the newline after it ends the record.
        let text = b"5'3\",x\n\"a,\nb\",y\n";
        let mut ends = RecordEnds::new(b'"', b',');
        assert_eq!(ends.advance(text, 1), Some(7));
        ends.cut(7);
        assert_eq!(ends.advance(&text[7..], 1), Some(text.len() - 7));
    }
}
