#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ctrl-C (SIGINT) and SIGTERM during a long computation end the process at once, with one line
/// on stderr and exit status 128 + the signal (130 for Ctrl-C), as a shell expects. Outputs are
/// all-or-none: a signal that arrives while ``AtomicFiles`` stages and renames them waits until
/// every output is in place (or removed), so an interrupted run never leaves a half-written file or
/// a temporary behind.
public enum Interrupts {
    nonisolated(unsafe) static var committing: sig_atomic_t = 0
    nonisolated(unsafe) static var pending: sig_atomic_t = 0

    /// Installs the handlers (not over a signal the caller ignores, as `nohup` does), and unblocks
    /// both signals: a process inherits its parent's signal mask, and a parent that blocked them
    /// (some test runners and launchers do) would leave iosim deaf to Ctrl-C and SIGTERM.
    public static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        // Touched here, before any handler can run: a first access from inside the handler could
        // run their lazy initialisation, which is not async-signal-safe.
        (committing, pending) = (0, 0)
        for sig in [SIGINT, SIGTERM] {
            // SIG_IGN is the handler value 1 on every platform iosim builds for; one ignored (as
            // nohup does) is put back.
            if let previous = signal(sig, handle), unsafeBitCast(previous, to: Int.self) == 1 { _ = signal(sig, SIG_IGN) }
        }
    }

    /// Runs `body` (staging and renaming outputs) with interrupts held back until it ends.
    static func deferred<T>(_ body: () throws(NpyError) -> T) throws(NpyError) -> T {
        committing = 1
        defer {
            committing = 0
            if pending != 0 { exitInterrupted(pending) }
        }
        return try body()
    }

    /// Only async-signal-safe calls: write(2) and _exit(2).
    private static let handle: @convention(c) (Int32) -> Void = { sig in
        if Interrupts.committing != 0 {
            Interrupts.pending = sig
            return
        }
        exitInterrupted(sig)
    }

    private static func exitInterrupted(_ sig: Int32) -> Never {
        let message: StaticString = "\niosim: interrupted\n"
        _ = message.withUTF8Buffer { Glibc_write2(2, $0.baseAddress!, $0.count) }
        _exit(128 + sig)
    }
}

/// The C library's `write(2)`.
private func Glibc_write2(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
