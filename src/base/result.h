// result.h -- hub::Result<T, E>: a value or an error, with std::expected's surface.
//
// The engine is built without exceptions, so every fallible call returns one of these.
// The surface (has_value, value, error, operator*, operator->, hub::unexpected) matches
// C++23 std::expected so that this header can become an alias when we move to C++23.
#pragma once

#include <type_traits>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace hub {

template <typename E>
class Unexpected {
public:
    constexpr explicit Unexpected(E error) : error_(std::move(error)) {}
    constexpr const E& error() const& { return error_; }
    constexpr E&& error() && { return std::move(error_); }

private:
    E error_;
};

template <typename E>
constexpr Unexpected<std::decay_t<E>> unexpected(E&& error) {
    return Unexpected<std::decay_t<E>>(std::forward<E>(error));
}

template <typename T, typename E>
class [[nodiscard]] Result {
public:
    using value_type = T;
    using error_type = E;

    constexpr Result() requires std::is_default_constructible_v<T>
        : storage_(std::in_place_index<0>) {}
    template <typename U = T>
    requires std::is_constructible_v<T, U&&> &&
        (!std::is_same_v<std::remove_cvref_t<U>, Result>)constexpr Result(U&& value)
        : storage_(std::in_place_index<0>, std::forward<U>(value)) {}
    template <typename G>
    constexpr Result(Unexpected<G> error)
        : storage_(std::in_place_index<1>, std::move(error).error()) {}

    constexpr bool has_value() const { return storage_.index() == 0; }
    constexpr explicit operator bool() const { return has_value(); }

    constexpr T& value() & {
        HUB_ASSERT(has_value());
        return std::get<0>(storage_);
    }
    constexpr const T& value() const& {
        HUB_ASSERT(has_value());
        return std::get<0>(storage_);
    }
    constexpr T&& value() && {
        HUB_ASSERT(has_value());
        return std::get<0>(std::move(storage_));
    }
    constexpr const E& error() const& {
        HUB_ASSERT(!has_value());
        return std::get<1>(storage_);
    }
    constexpr E&& error() && {
        HUB_ASSERT(!has_value());
        return std::get<1>(std::move(storage_));
    }
    template <typename U>
    constexpr T value_or(U&& fallback) const& {
        return has_value() ? std::get<0>(storage_) : static_cast<T>(std::forward<U>(fallback));
    }

    constexpr T& operator*() & { return value(); }
    constexpr const T& operator*() const& { return value(); }
    constexpr T* operator->() { return &value(); }
    constexpr const T* operator->() const { return &value(); }

private:
    std::variant<T, E> storage_;
};

template <typename E>
class [[nodiscard]] Result<void, E> {
public:
    using value_type = void;
    using error_type = E;

    constexpr Result() = default;
    template <typename G>
    constexpr Result(Unexpected<G> error) : error_(std::move(error).error()), failed_(true) {}

    constexpr bool has_value() const { return !failed_; }
    constexpr explicit operator bool() const { return has_value(); }
    constexpr void value() const { HUB_ASSERT(has_value()); }
    constexpr const E& error() const& {
        HUB_ASSERT(failed_);
        return error_;
    }

private:
    E error_{};
    bool failed_ = false;
};

}  // namespace hub
