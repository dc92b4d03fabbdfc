# Compatibility with ROS 2 interface packages installed from PyPI wheels.
#
# The wheels' exported CMake targets (<pkg>::<pkg>__rosidl_generator_py) carry the include
# directories of the machine that built the wheels (/opt/python/cp311-cp311/...). CMake refuses
# to generate when an imported target names a directory that does not exist. After the whole
# directory has been processed, this replaces each such missing directory with this build's
# Python and NumPy include directories. On a normal ROS 2 install nothing matches, so it is a no-op.

function(_scorehmr_fix_wheel_include_dirs)
  find_package(Python3 REQUIRED COMPONENTS Interpreter Development NumPy)
  get_directory_property(_targets DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_fixed "")
    set(_changed FALSE)
    foreach(_dir IN LISTS _dirs)
      if(NOT EXISTS "${_dir}" AND _dir MATCHES "^/opt/python/")
        set(_changed TRUE)
        if(_dir MATCHES "numpy")
          list(APPEND _fixed ${Python3_NumPy_INCLUDE_DIRS})
        else()
          list(APPEND _fixed ${Python3_INCLUDE_DIRS})
        endif()
      else()
        list(APPEND _fixed "${_dir}")
      endif()
    endforeach()
    if(_changed)
      list(REMOVE_DUPLICATES _fixed)
      set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
    endif()
  endforeach()
endfunction()

cmake_language(DEFER CALL _scorehmr_fix_wheel_include_dirs)
