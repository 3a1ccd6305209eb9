// A real redis-server for a test: started on a free loopback port with a temporary directory and
// no persistence, stopped (and the directory removed) by the destructor. Startup is awaited by
// reading the server's log for "Ready to accept connections", with a bound, not a sleep.
#ifndef STRIPE_ASIO_TEST_SUPPORT_REDIS_PROCESS_HPP
#define STRIPE_ASIO_TEST_SUPPORT_REDIS_PROCESS_HPP

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace test {

class redis_process {
public:
    /// A server that speaks TLS only (rediss://), with this certificate and key (PEM).
    struct tls_identity {
        std::string chain_pem;
        std::string key_pem;
    };

    /// `extra`: more redis-server arguments, such as {"--requirepass", "..."}.
    explicit redis_process(std::vector<std::string> extra = {}, std::optional<tls_identity> tls = std::nullopt)
        : extra_(std::move(extra)), tls_(tls.has_value()) {
        char dir_template[] = "/tmp/stripe-asio-redis-XXXXXX";
        REQUIRE(::mkdtemp(dir_template) != nullptr);
        dir_ = dir_template;
        if (tls) {
            write_file(dir_ + "/cert.pem", tls->chain_pem);
            write_file(dir_ + "/key.pem", tls->key_pem);
        }
        for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) start(free_port());
        REQUIRE_MESSAGE(pid_ > 0, "redis-server did not start (is the redis-server package installed?)");
    }
    ~redis_process() {
        stop();
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    redis_process(const redis_process&) = delete;
    redis_process& operator=(const redis_process&) = delete;

    unsigned short port() const noexcept { return port_; }
    std::string url() const { return (tls_ ? "rediss://127.0.0.1:" : "redis://127.0.0.1:") + std::to_string(port_); }

    /// SIGSTOP / SIGCONT: a server that holds its connections and answers nothing, then resumes.
    void pause() { ::kill(pid_, SIGSTOP); }
    void resume() { ::kill(pid_, SIGCONT); }

    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGCONT); // a paused server is killed too
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    /// Starts again on the same port after stop().
    void restart() {
        REQUIRE(pid_ <= 0);
        for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) start(port_);
        REQUIRE(pid_ > 0);
    }

private:
    static unsigned short free_port() {
        boost::asio::io_context io;
        boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
        return a.local_endpoint().port();
    }

    void start(unsigned short port) {
        int out[2];
        REQUIRE(::pipe(out) == 0);
        std::string port_text = std::to_string(port);
        std::vector<const char*> argv = {
            "redis-server", "--port", port_text.c_str(), "--bind",     "127.0.0.1",   "--save", "",
            "--appendonly", "no",     "--dir",           dir_.c_str(), "--daemonize", "no"};
        std::string cert = dir_ + "/cert.pem", key = dir_ + "/key.pem";
        if (tls_) {
            for (const char* a : {"--port", "0", "--tls-port", port_text.c_str(), "--tls-cert-file", cert.c_str(),
                                  "--tls-key-file", key.c_str(), "--tls-auth-clients", "no"})
                argv.push_back(a);
        }
        for (const std::string& a : extra_) argv.push_back(a.c_str());
        argv.push_back(nullptr);
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::dup2(out[1], 1);
            ::close(out[0]);
            ::close(out[1]);
            ::close_range(3, ~0U, 0); // nothing of the test's own: its sockets would outlive their closing
            ::execvp("redis-server", const_cast<char* const*>(argv.data()));
            ::_exit(127);
        }
        ::close(out[1]);
        std::string log;
        bool ready = false;
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!ready && std::chrono::steady_clock::now() < until) {
            pollfd p{out[0], POLLIN, 0};
            if (::poll(&p, 1, 1000) <= 0) continue;
            char buf[512];
            ssize_t n = ::read(out[0], buf, sizeof buf);
            if (n <= 0) break; // the server exited (its port was taken)
            log.append(buf, static_cast<std::size_t>(n));
            ready = log.find("Ready to accept connections") != std::string::npos;
        }
        ::close(out[0]); // its later log lines go nowhere (the server ignores SIGPIPE)
        if (!ready) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            return;
        }
        pid_ = pid;
        port_ = port;
    }

    static void write_file(const std::string& path, const std::string& text) {
        std::FILE* f = std::fopen(path.c_str(), "w");
        REQUIRE(f != nullptr);
        REQUIRE(std::fwrite(text.data(), 1, text.size(), f) == text.size());
        std::fclose(f);
    }

    std::vector<std::string> extra_;
    bool tls_ = false;
    std::string dir_;
    pid_t pid_ = -1;
    unsigned short port_ = 0;
};

} // namespace test

#endif
