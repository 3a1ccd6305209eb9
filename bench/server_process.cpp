#include "server_process.hpp"

#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bench {

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    return cpus;
}

bool pin_to(const std::vector<int>& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : cpus) CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

std::string find_fake_stripe(const std::string& given) {
    if (!given.empty()) {
        if (access(given.c_str(), X_OK) != 0)
            throw std::runtime_error("--fake-stripe " + given + ": " + std::strerror(errno));
        return given;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        std::string dir(self, static_cast<std::size_t>(n));
        dir.erase(dir.rfind('/'));
        for (const char* candidate : {"/../fake-stripe", "/fake-stripe"}) {
            std::string path = dir + candidate;
            if (access(path.c_str(), X_OK) == 0) return path;
        }
    }
    throw std::runtime_error("cannot find the fake-stripe program next to this one (build the fake-stripe "
                             "target, or pass --fake-stripe PATH, or --base-url URL for another server)");
}

server_process::server_process(const std::string& program, int cpu) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/stripe-asio-bench-ca-XXXXXX";
    int ca_fd = mkstemp(pattern.data());
    if (ca_fd < 0) throw std::runtime_error("cannot make a temporary file: " + std::string(std::strerror(errno)));
    close(ca_fd);
    ca_file_ = pattern;

    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        stop();
        throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
    }
    std::vector<std::string> args = {program, "--port", "0", "--ca-out", ca_file_};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu >= 0) CPU_SET(cpu, &set);
    const pid_t parent = getpid();

    pid_ = fork();
    if (pid_ == 0) {
        // The child: only async-signal-safe calls until exec.
        dup2(out[1], STDOUT_FILENO); // dup2 clears O_CLOEXEC on the copy
        if (cpu >= 0) sched_setaffinity(0, sizeof set, &set);
        prctl(PR_SET_PDEATHSIG, SIGTERM); // never outlive the benchmark, however it ends
        if (getppid() != parent) _exit(1);
        execv(argv[0], argv.data());
        const char msg[] = "login_link_bench: cannot run the fake-stripe program\n";
        [[maybe_unused]] auto ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
        _exit(127);
    }
    close(out[1]);
    out_fd_ = out[0];
    if (pid_ < 0) {
        int err = errno;
        stop();
        throw std::runtime_error("fork: " + std::string(std::strerror(err)));
    }

    // Wait for "listening on https://127.0.0.1:PORT".
    const std::string marker = "listening on ";
    std::string said;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
        auto pos = said.find(marker);
        auto eol = pos == std::string::npos ? std::string::npos : said.find('\n', pos);
        if (eol != std::string::npos) {
            base_url_ = said.substr(pos + marker.size(), eol - pos - marker.size());
            while (!base_url_.empty() && (base_url_.back() == '\r' || base_url_.back() == ' ')) base_url_.pop_back();
            std::ifstream in(ca_file_, std::ios::binary); // written before the server says it listens
            ca_pem_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            unlink(ca_file_.c_str());
            ca_file_.clear();
            if (ca_pem_.empty()) {
                stop();
                throw std::runtime_error("the fake-stripe server wrote no CA certificate");
            }
            return;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            stop();
            throw std::runtime_error("the fake-stripe server did not say it was listening within 20 s");
        }
        pollfd p{out_fd_, POLLIN, 0};
        int r = poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        char chunk[512];
        ssize_t n = r > 0 ? read(out_fd_, chunk, sizeof chunk) : 0;
        if (n > 0) {
            said.append(chunk, static_cast<std::size_t>(n));
            continue;
        }
        if (r > 0 && n == 0) { // EOF: it exited
            int status = 0;
            std::string why = "the fake-stripe server exited before listening";
            if (waitpid(pid_, &status, 0) == pid_) {
                pid_ = -1;
                if (WIFEXITED(status)) why += " (exit status " + std::to_string(WEXITSTATUS(status)) + ")";
                if (WIFSIGNALED(status)) why += " (signal " + std::to_string(WTERMSIG(status)) + ")";
            }
            if (!said.empty()) why += "; it said: " + said;
            stop();
            throw std::runtime_error(why);
        }
    }
}

server_process::~server_process() { stop(); }

double server_process::cpu_seconds() const {
    if (pid_ <= 0) return -1;
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime field 14, stime field 15.
    auto close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) return -1;
    std::istringstream fields(stat.substr(close_paren + 1));
    std::string skip;
    for (int field = 3; field < 14; ++field) fields >> skip;
    unsigned long long utime = 0, stime = 0;
    if (!(fields >> utime >> stime)) return -1;
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

void server_process::stop() noexcept {
    if (pid_ > 0) {
        kill(pid_, SIGTERM);
        int status = 0;
        bool reaped = false;
        for (int i = 0; i < 300 && !reaped; ++i) { // up to 3 s for a clean exit
            pid_t r = waitpid(pid_, &status, WNOHANG);
            reaped = r == pid_ || (r < 0 && errno != EINTR);
            if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!reaped) {
            kill(pid_, SIGKILL);
            while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
        }
        pid_ = -1;
    }
    if (out_fd_ >= 0) {
        close(out_fd_);
        out_fd_ = -1;
    }
    if (!ca_file_.empty()) {
        unlink(ca_file_.c_str());
        ca_file_.clear();
    }
}

} // namespace bench
