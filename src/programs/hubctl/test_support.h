// test_support.h -- for hubctl's tests that run the real hubctl binary: one command line run
// through the shell, its exit status and both output streams captured in files of the test's
// own directory.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace hub::hubctl::testing {

struct CommandOutcome {
    int status = -1;  // The exit status; -1 when the command did not exit normally.
    std::string out;
    std::string err;
};

inline std::string slurp(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Runs command_line (arguments already quoted as the shell needs) with its standard output
// and error in work_dir/out and work_dir/err, and its standard input from /dev/null.
inline CommandOutcome run_captured(const std::string& command_line,
                                   const std::filesystem::path& work_dir) {
    std::filesystem::path out = work_dir / "out";
    std::filesystem::path err = work_dir / "err";
    std::string command = command_line + " >" + out.string() + " 2>" + err.string() + " </dev/null";
    CommandOutcome result;
    int status = std::system(command.c_str());
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = slurp(out);
    result.err = slurp(err);
    return result;
}

}  // namespace hub::hubctl::testing
