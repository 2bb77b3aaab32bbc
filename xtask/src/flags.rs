//! The commands' flags, read one way: `--name value` and `--name=value`.

/// One flag as written.
pub struct Flag<'a> {
    /// `--name`, without any `=value`.
    pub name: &'a str,
    /// The argument as given, for error messages.
    pub arg: &'a str,
    inline: Option<&'a str>,
}

impl Flag<'_> {
    /// Whether it was written `--name=value`.
    pub fn has_inline_value(&self) -> bool {
        self.inline.is_some()
    }
}

/// Walks a command's arguments flag by flag.
pub struct Flags<'a, 's> {
    args: std::slice::Iter<'a, &'s str>,
}

impl<'a, 's> Flags<'a, 's> {
    pub fn new(args: &'a [&'s str]) -> Self {
        Flags { args: args.iter() }
    }

    pub fn next_flag(&mut self) -> Option<Flag<'s>> {
        let arg: &'s str = self.args.next()?;
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg, None),
        };
        Some(Flag { name, arg, inline })
    }

    /// The flag's value: after its `=`, else the next argument.
    pub fn value(&mut self, flag: &Flag<'s>) -> Option<&'s str> {
        flag.inline.or_else(|| self.args.next().copied())
    }
}
