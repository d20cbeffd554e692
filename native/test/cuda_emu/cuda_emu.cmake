# The CUDA emulator (native/test/cuda_emu): native/cuda's sources translated to plain C++ by
# translate.js (node) and linked with the emulator's runtime, so the CUDA backend runs on an x86-64
# CPU with no nvcc and no GPU. A test tool only: a thousand times slower than a GPU, and it proves
# the kernels' logic (indexing, fragments, tiling, barriers, edges), not their behaviour on
# hardware. The Hopper kernels (wgmma, TMA) run too, on the emulator's reading of those instructions.
#   dit_add_cuda_emulator(target): gives `target` the emulated CUDA backend.
find_program(DIT_NODE node)
set(DIT_CUDA_EMULATOR_AVAILABLE OFF)
if(DIT_NODE AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(DIT_CUDA_EMULATOR_AVAILABLE ON)
endif()

set(DIT_EMU_DIR ${CMAKE_CURRENT_LIST_DIR})
set(DIT_EMU_GENERATED ${CMAKE_BINARY_DIR}/cuda_emu_src)

# The translation rules, made once (every target using the emulator shares the generated files).
function(dit_translate_cuda_sources out_var)
  set(translate ${DIT_EMU_DIR}/translate.js)
  file(GLOB inputs ${CMAKE_SOURCE_DIR}/native/cuda/*.cuh ${CMAKE_SOURCE_DIR}/native/cuda/*.h)
  list(FILTER inputs EXCLUDE REGEX "/(mma|wgmma_ptx)\\.cuh$")  # the emulator has its own of these two
  foreach(name device runtime timer allocator kernel_choice linear linear_mma linear_wgmma linear_tma tma_maps layer_norm_modulate attention
               attention_mma attention_wgmma conv3d conv3d_layout conv3d_mma conv3d_wgmma conv3d_tma patch_embed3d elementwise)
    list(APPEND inputs ${CMAKE_SOURCE_DIR}/native/cuda/${name}.cu)
  endforeach()
  set(outputs)
  foreach(input ${inputs})
    get_filename_component(name ${input} NAME)
    string(REGEX REPLACE "\\.cu$" ".cpp" name ${name})
    set(output ${DIT_EMU_GENERATED}/${name})
    add_custom_command(OUTPUT ${output} COMMAND ${DIT_NODE} ${translate} ${input} ${output} DEPENDS ${input} ${translate} VERBATIM)
    list(APPEND outputs ${output})
  endforeach()
  set(${out_var} ${outputs} PARENT_SCOPE)
endfunction()

if(DIT_CUDA_EMULATOR_AVAILABLE)
  dit_translate_cuda_sources(DIT_EMU_SOURCES)
endif()

function(dit_add_cuda_emulator target)
  set(generated ${DIT_EMU_SOURCES})
  set(runtime ${DIT_EMU_DIR}/scheduler.cpp ${DIT_EMU_DIR}/ptx.cpp ${DIT_EMU_DIR}/hopper.cpp ${DIT_EMU_DIR}/runtime.cpp)
  target_sources(${target} PRIVATE ${generated} ${runtime})
  # CUDA code reads registers through other types (uint4 as T[8]) as nvcc allows: no strict aliasing;
  # CUtensorMap (64-byte aligned) passed by value draws a note on an old ABI change: not relevant here
  set_source_files_properties(${generated} ${runtime} TARGET_DIRECTORY ${target} PROPERTIES COMPILE_OPTIONS
                              "-Wno-unknown-pragmas;-Wno-psabi;-fno-strict-aliasing")
  # translated headers first, then the emulator's (its mma.cuh stands in for native/cuda's), then native/cuda
  target_include_directories(${target} BEFORE PRIVATE ${DIT_EMU_GENERATED} ${DIT_EMU_DIR}/include ${CMAKE_SOURCE_DIR}/native/cuda)
  target_compile_definitions(${target} PRIVATE DIT_HAVE_CUDA=1 DIT_CUDA_EMULATION=1 "DIT_CUDA_ARCHS=\"emulator\"")
endfunction()
