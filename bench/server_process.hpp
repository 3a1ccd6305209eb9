// The fake Stripe server as a child process, so that its CPU and memory stay out of the
// benchmark's own measurements, optionally pinned to a core of its own.
#ifndef STRIPE_ASIO_BENCH_SERVER_PROCESS_HPP
#define STRIPE_ASIO_BENCH_SERVER_PROCESS_HPP

#include <string>
#include <vector>

#include <sys/types.h>

namespace bench {

/// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus();

/// Pins the calling thread (and the threads it starts later) to `cpus`. False when refused.
bool pin_to(const std::vector<int>& cpus);

/// Where the fake-stripe program is: `given` when not empty, else next to this program
/// (`<dir>/../fake-stripe` or `<dir>/fake-stripe`). Throws std::runtime_error when not found.
std::string find_fake_stripe(const std::string& given);

class server_process {
public:
    /// Runs `program --port 0 --ca-out <temporary file>`, pinned to `cpu` when it
    /// is not negative, waits for its `listening on URL` line, then reads the CA and removes the
    /// file (so no crash or Ctrl-C can leave it behind). Throws std::runtime_error (with what the
    /// server said, if anything) when it does not start.
    server_process(const std::string& program, int cpu);
    ~server_process(); ///< stops the server (SIGTERM, then SIGKILL) and reaps it
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;

    const std::string& base_url() const noexcept { return base_url_; }
    const std::string& ca_pem() const noexcept { return ca_pem_; } ///< the CA that signed its certificate
    pid_t pid() const noexcept { return pid_; }
    /// User + system CPU seconds the server has used so far (from /proc/PID/stat); -1 if unknown.
    double cpu_seconds() const;

    void stop() noexcept;

private:
    pid_t pid_ = -1;
    int out_fd_ = -1; ///< the read end of the server's stdout
    std::string ca_file_; ///< while the server writes it
    std::string ca_pem_;
    std::string base_url_;
};

} // namespace bench

#endif
